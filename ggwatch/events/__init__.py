"""EventBridge events -> refresh requests: parse a message into a trigger (pure), the consumer
that routes them (consumer; its SQS calls are ggwatch.aws.sqs), and the per-target mailbox
that coalesces them for the poller."""
