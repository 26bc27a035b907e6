"""skyrelay: one platform spec for frontier models on AWS Bedrock and Azure OpenAI.

The root folders ``stacks/ constructs/ pulumi/ policies/ gateway/`` are the packages
``skyrelay.<folder>``; see DESIGN.md.
"""

__version__ = "0.1.0"
