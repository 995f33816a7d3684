"""Machine identities for enterprise systems (CRM, ERP, finance, HRIS): API keys and the
OAuth2 client-credentials grant. A key is shown once, stored as a hash, and turned by the
gateway into a short-lived JWT of its own issuer that the services verify as usual."""
