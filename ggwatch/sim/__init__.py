"""A local AWS IoT Greengrass V2 control plane, for tests, benchmarks and the demo.

It speaks the real REST-JSON protocol on loopback, so the unmodified aiobotocore client,
pointed at it by AWS_ENDPOINT_URL_GREENGRASSV2, behaves as against AWS. It shares no code with
the rest of ggwatch: a simulator built on the models of the code it tests would agree with it
on the same bugs.
"""
