"""Key management: named keys with versions for sign/verify, encrypt/decrypt, MAC and data keys."""
