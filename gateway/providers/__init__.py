"""Upstream providers: Bedrock Converse, Azure OpenAI, and any OpenAI-compatible API."""
