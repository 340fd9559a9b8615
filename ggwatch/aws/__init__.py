"""The only code that talks to AWS: clients, the Greengrass V2 adapter, the shared quota."""
