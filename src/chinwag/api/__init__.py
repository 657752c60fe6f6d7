"""The HTTP JSON API: thin routes over services, one error mapping."""
