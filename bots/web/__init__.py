"""The web page: private download pages behind signed, expiring links."""
