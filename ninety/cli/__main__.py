"""`python -m ninety.cli` (how the supervisor and the tests start commands)."""
from ninety.cli import main

main()
