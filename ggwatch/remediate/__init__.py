"""Reviewed remediation: write the plans the rules propose (`ggwatch plan`), create the `ok`
ones after review (`ggwatch apply`), and predict a deployment before it exists
(`ggwatch preflight`). The daemon only plans; creating deployments stays a human step."""
