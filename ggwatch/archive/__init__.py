"""Archives of deployments that cleanup is about to delete: one JSON document per deployment.

GGWATCH_ARCHIVE_URI names the place; the layout under it holds the Region and the deployment:

    file:///abs/dir          /abs/dir/{region}/{account}/{deploymentId}.json
    s3://bucket[/prefix]     s3://bucket/[prefix/]{region}/{account}/{deploymentId}.json

`account` is "unknown" when the caller does not know it. The document is
`{"region", "account", "deployment_id", "ggwatch_version", "archived_at", "reason", "writer",
"deployment"}` with the whole GetDeployment answer under "deployment"; UTF-8 JSON, sorted keys,
indented, datetimes as ISO-8601 UTC ("...Z"). "writer" is a random id per process, so a record
says which process archived it.

Use: parse the URI at start-up, so that a bad one exits 2 before anything runs, scope the
archive (and its S3 client) like any other resource, and probe it before acting, so that an
archive nothing can be written to stops the daemon at start rather than every cycle:

    target = parse_archive_uri(settings.archive_uri)             # ConfigError
    archive = await stack.enter_async_context(open_archive(target, session))
    where = await archive.probe()                                # ArchiveError
    location = await archive.write(record)                       # ArchiveHeld, ArchiveError

`archive_from_uri(uri, session)` does the first two in one `async with`.

A record is created once and never replaced: of two processes archiving one deployment,
exactly one write succeeds and the other raises ArchiveHeld, carrying the existing record's
`archived_at` and `writer` (None when that record cannot be read) and its location; only the
writer that created a record goes on to delete. A record is never seen half-written.

Files: the document goes to a temp file in the same directory, is fsynced, and is hard-linked
to its final name (link(2) fails if the name exists: atomic and create-only); then the temp file
is unlinked and the directory fsynced. So the file system must support hard links (the probe
checks). Work runs off the event loop; files are owner-only (0600: a deployment's
configuration may hold secrets). The probe creates the directory if missing, then creates,
fsyncs, links and removes a marker `.ggwatch-probe-<random>` there.

S3: PutObject with If-None-Match: * (S3's conditional write: 412 when the key exists, then
GetObject reads the existing record; 409 ConditionalRequestConflict is retried), SSE-S3
(AES256), by a client built from the standard AWS configuration (credentials chain,
AWS_ENDPOINT_URL_S3, retry mode). The probe puts `[prefix/].ggwatch-probe`, overwriting it
(nothing is ever deleted), then puts it again create-only to check that the store honours
If-None-Match: one that ignored it would let two replicas both delete.

Every failure is an ArchiveError naming the location and the reason, so cleanup can refuse to
delete.

S3 permissions, all on the prefix: s3:PutObject (write, probe); s3:GetObject (exists() through
HeadObject, and reading a held record through GetObject). No s3:DeleteObject. Without
s3:ListBucket, S3 answers a missing key with 403 rather than 404, and exists() raises
ArchiveError instead of returning False.
"""
