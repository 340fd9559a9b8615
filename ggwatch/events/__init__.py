"""EventBridge events -> refresh requests: parse a message into a trigger (pure), and the
per-target mailbox that coalesces them for the poller. The SQS consumer is in ggwatch.aws.queue."""
