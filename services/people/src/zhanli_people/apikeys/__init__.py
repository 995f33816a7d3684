"""Machine identities for enterprise systems (CRM, ERP, finance, HRIS): API keys. A key is
shown once and stored as a hash; the gateway turns it into a short-lived JWT of its own
issuer (and serves the OAuth2 client-credentials grant with it), looking its state up here."""
