"""skipcall-bridge: verified CRM and automation webhooks in, Skipcall call sequences out."""

__version__ = "0.1.0"
