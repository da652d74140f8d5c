// npm JWT verifiers as integrators configure them: issuer and audience, keys found by
// OIDC discovery.
//
//     node verify.mjs (jose | aws-jwt-verify) ISSUER TOKEN...
//
// Reads `ISSUER/.well-known/openid-configuration`, takes its `jwks_uri` and verifies each
// token with the chosen library (RS256 only, `aud` and `iss` = ISSUER). Prints one JSON
// line per token, in order: {"accepted": true, "claims": {...}} or
// {"accepted": false, "reason": "..."}. A failure to reach the service is not a verdict:
// it ends the script with an error.

import * as jose from "jose";
import { JwtVerifier } from "aws-jwt-verify";
import { SimpleJwksCache } from "aws-jwt-verify/jwk";
import { FetchError, JwtBaseError } from "aws-jwt-verify/error";

async function discoverJwksUri(issuer) {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) {
    throw new Error(`discovery answered ${response.status}`);
  }
  const document = await response.json();
  if (document.issuer !== issuer) {
    throw new Error(`discovery names issuer ${document.issuer}, not ${issuer}`);
  }
  return document.jwks_uri;
}

// panva/jose: a remote JWKS and `jwtVerify`.
function joseVerifier(issuer, jwksUri) {
  const jwks = jose.createRemoteJWKSet(new URL(jwksUri));
  const options = { issuer, audience: issuer, algorithms: ["RS256"] };
  return {
    verify: async (token) => (await jose.jwtVerify(token, jwks, options)).payload,
    isRefusal: (error) =>
      error instanceof jose.errors.JOSEError && !(error instanceof jose.errors.JWKSTimeout),
  };
}

// The default fetcher of aws-jwt-verify speaks HTTPS only; its documented `Fetcher`
// extension point lets it read the JWKS of this plain-HTTP test issuer.
class PlainHttpFetcher {
  async fetch(uri) {
    const response = await fetch(uri);
    if (!response.ok) {
      throw new FetchError(uri, `status ${response.status}`);
    }
    return response.arrayBuffer();
  }
}

// awslabs/aws-jwt-verify: the generic `JwtVerifier` (any OIDC issuer).
function awsJwtVerifier(issuer, jwksUri) {
  const verifier = JwtVerifier.create(
    { issuer, audience: issuer, jwksUri },
    { jwksCache: new SimpleJwksCache({ fetcher: new PlainHttpFetcher() }) },
  );
  return {
    verify: (token) => verifier.verify(token),
    isRefusal: (error) => error instanceof JwtBaseError && !(error instanceof FetchError),
  };
}

const verifiers = { jose: joseVerifier, "aws-jwt-verify": awsJwtVerifier };

async function main() {
  const [name, issuer, ...tokens] = process.argv.slice(2);
  if (!(name in verifiers) || !issuer) {
    throw new Error("usage: verify.mjs (jose | aws-jwt-verify) ISSUER TOKEN...");
  }
  const verifier = verifiers[name](issuer, await discoverJwksUri(issuer));
  for (const token of tokens) {
    let verdict;
    try {
      verdict = { accepted: true, claims: await verifier.verify(token) };
    } catch (error) {
      if (!verifier.isRefusal(error)) {
        throw error;
      }
      verdict = { accepted: false, reason: `${error.constructor.name}: ${error.message}` };
    }
    console.log(JSON.stringify(verdict));
  }
}

await main();
