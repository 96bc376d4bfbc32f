"""AWS integrations: secrets (Secrets Manager), dead letters (SQS), deduplication and the link
table (DynamoDB), and the one botocore session their clients share (`config`, `service_models`)."""
