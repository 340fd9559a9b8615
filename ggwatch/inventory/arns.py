"""Which ARN a component name stands for in one account and Region."""

from __future__ import annotations

from collections.abc import Iterable

from ggwatch.aws.shapes import ComponentSummary
from ggwatch.model import VersionRef
from ggwatch.names import partition


class ArnResolver:
    """A name resolves to the account's own component first, then AWS's public one."""

    def __init__(
        self,
        region: str,
        account: str | None,
        private: Iterable[ComponentSummary] | None,
        public: Iterable[ComponentSummary] | None,
    ) -> None:
        self.region = region
        self.account = account
        self.private = {c.name: c.arn for c in private or ()}
        self.public = {c.name: c.arn for c in public or ()}

    def component(self, name: str) -> str:
        if name in self.private:
            return self.private[name]
        if name in self.public:
            return self.public[name]
        # Listed nowhere (gone, or a listing failed): guess as AWS would name it.
        owner = self._owner(name)
        return f"arn:{partition(self.region)}:greengrass:{self.region}:{owner}:components:{name}"

    def owned(self, name: str) -> bool:
        """Whether the name stands for the account's own component: listed as private, or
        listed nowhere and not named as AWS names its own (DeleteComponent on its last
        version takes a component out of ListComponents while devices still run it)."""
        if name in self.private:
            return True
        return name not in self.public and self._owner(name) == self.account

    def _owner(self, name: str) -> str:
        return "aws" if name.startswith("aws.") or self.account is None else self.account

    def version(self, ref: VersionRef) -> str:
        return f"{self.component(ref.name)}:versions:{ref.version}"
