"""What only the gateway sees and the audit log must show (sign-in attempts, refused
requests), published as ``zhanli.gateway.request_audited.v1`` events; the audit service
(``zhanli_audit``) chains them. The gateway keeps no table for it."""
