"""Your account: the settings page (a display name and a bio, the password,
deleting the account)."""
