"""Machine identities at the edge: API keys (stored by the people service) and the OAuth2
client-credentials grant. The gateway checks a key against its cached state and turns it into
a short-lived JWT of its own issuer that the services verify as usual."""
