"""The local stack: Skipcall sandbox, API Gateway emulator and moto, for `make dev` and tests.

Development tooling only: not shipped in the Lambda zip.
"""
