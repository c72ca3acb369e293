"""Sheet Sync: Excel contact lists into Replify campaigns, and every row's result back."""

__version__ = "0.1.0"
