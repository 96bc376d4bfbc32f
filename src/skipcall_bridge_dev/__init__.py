"""Development tooling beside the runtime package: the local stack (moto, the Skipcall sandbox,
the API Gateway emulator), samples and signing, previews, the inspector, and the CLI's
development verbs (`dev`, `sign`, `send`, `preview`, `events`). Never in the Lambda zip, which is
built from the runtime package alone (src/Makefile).
"""
