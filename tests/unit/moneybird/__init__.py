"""The Moneybird client against the sandbox's answers."""
