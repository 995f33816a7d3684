"""``/api/v1/me``: the signed-in person's own view for the mobile app, one call each.

A thin backend-for-frontend on the gateway: the profile comes from the people service's
directory; commission, what-if, revenue and notifications are read from the services with
the caller's own bearer token (so each service authorises the caller again), through the
proxy's upstream client (``zhanli_gateway.upstream``). Every response carries a strong
ETag and a GET answers 304 to a matching ``If-None-Match``.
"""
