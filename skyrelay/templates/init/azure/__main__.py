"""Pulumi runs this file: the skyrelay Azure program on this project's platform spec."""

from skyrelay.pulumi.program import main

main()
