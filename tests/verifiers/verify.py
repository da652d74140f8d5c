"""PyJWT as an integrator configures it: issuer and audience, keys found by discovery.

    verify.py ISSUER TOKEN...

Reads `ISSUER/.well-known/openid-configuration`, takes its `jwks_uri` and verifies each
token with `jwt.PyJWKClient` and `jwt.decode` (RS256 only, `aud` and `iss` = ISSUER).
Prints one JSON line per token, in order: {"accepted": true, "claims": {...}} or
{"accepted": false, "reason": "..."}. A failure to reach the service is not a verdict:
it ends the script with an error.
"""

import json
import sys
import urllib.request

import jwt


def discover_jwks_uri(issuer):
    url = issuer + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=10) as response:
        document = json.load(response)
    if document.get("issuer") != issuer:
        sys.exit(f"discovery names issuer {document.get('issuer')!r}, not {issuer!r}")
    return document["jwks_uri"]


def verdict(jwks, issuer, token):
    try:
        key = jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, key, algorithms=["RS256"], audience=issuer, issuer=issuer
        )
        return {"accepted": True, "claims": claims}
    except jwt.PyJWKClientConnectionError:
        raise
    except jwt.PyJWTError as error:
        return {"accepted": False, "reason": f"{type(error).__name__}: {error}"}


def main():
    issuer, tokens = sys.argv[1], sys.argv[2:]
    jwks = jwt.PyJWKClient(discover_jwks_uri(issuer))
    for token in tokens:
        print(json.dumps(verdict(jwks, issuer, token)), flush=True)


if __name__ == "__main__":
    main()
