"""AWS integrations: Secrets Manager reads and the SQS dead-letter queue."""
