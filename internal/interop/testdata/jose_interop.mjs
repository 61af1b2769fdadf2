// Checks tolk's signed tokens with three independent JavaScript libraries,
// each against tolk's real discovery document and JWKS (TestNodeJOSEInterop
// runs it; .ci/run installs the pinned packages):
//   - jose: jwtVerify with createRemoteJWKSet (typ, iss, aud, alg pinned);
//   - oauth4webapi: validateJwtAccessToken, its RFC 9068 resource-server
//     check (typ at+jwt, iss, aud, exp, iat, sub, jti, client_id);
//   - openid-client: discovery, then the token exchange and
//     client_credentials grants through its own requests; what it was given
//     is checked with the two above.
// Input (argv[2], JSON): {"servers":[{"issuer","alg","aud","tokens":[...],
// "subject_token","client_id","client_secret","jwt_access_alg"}]}.
// Prints one line per check and exits non-zero on the first failure.
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';

const input = JSON.parse(process.argv[2]);
let checks = 0;

function ok(what) {
  checks++;
  console.log('ok   ' + what);
}

async function joseVerify(issuer, jwks, token, alg, aud, what) {
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer, audience: aud, algorithms: [alg], typ: 'at+jwt',
  });
  if (protectedHeader.alg !== alg) throw new Error(`${what}: alg ${protectedHeader.alg}, want ${alg}`);
  if (!payload.sub || !payload.jti) throw new Error(`${what}: claims ${JSON.stringify(payload)}`);
  ok(`jose jwtVerify ${alg} ${what}`);
}

async function oauthVerify(as, token, alg, aud, what) {
  const req = new Request(as.issuer + '/resource', { headers: { authorization: 'Bearer ' + token } });
  const claims = await oauth.validateJwtAccessToken(as, req, aud, {
    signingAlgorithms: [alg],
    [oauth.allowInsecureRequests]: true,
  });
  if (claims.iss !== as.issuer || !claims.client_id) throw new Error(`${what}: claims ${JSON.stringify(claims)}`);
  ok(`oauth4webapi validateJwtAccessToken ${alg} ${what}`);
}

for (const s of input.servers) {
  const issuer = new URL(s.issuer);
  const as = await oauth.processDiscoveryResponse(issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', [oauth.allowInsecureRequests]: true }));
  const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));
  const set = await (await fetch(as.jwks_uri)).json();
  const jwk = set.keys.find((k) => k.alg === s.alg);
  if (!jwk) throw new Error(`JWKS of ${s.issuer} has no ${s.alg} key: ${JSON.stringify(set)}`);
  if (s.alg === 'EdDSA' && (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519')) throw new Error(`EdDSA JWK ${JSON.stringify(jwk)}`);
  // The JWK itself imports as the key its alg names (RFC 8037 for OKP).
  await jose.importJWK(jwk, s.alg);
  ok(`jose importJWK ${s.alg} kty ${jwk.kty}${jwk.crv ? ' crv ' + jwk.crv : ''}`);

  for (const t of s.tokens) {
    await joseVerify(s.issuer, jwks, t.token, t.alg, t.aud, t.what);
    await oauthVerify(as, t.token, t.alg, t.aud, t.what);
  }

  // A token signed by another key of the same kind, under tolk's kid, is
  // refused: the libraries really check the signature.
  const forged = s.tokens[0];
  const [h, p] = forged.token.split('.');
  const other = forged.alg === 'EdDSA'
    ? (await jose.generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey
    : (await jose.generateKeyPair(forged.alg)).privateKey;
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const bad = await new jose.CompactSign(Buffer.from(p, 'base64url')).setProtectedHeader(header).sign(other);
  let refused = false;
  try { await jose.jwtVerify(bad, jwks, { issuer: s.issuer, audience: forged.aud, algorithms: [forged.alg] }); } catch { refused = true; }
  if (!refused) throw new Error(`jose accepted a ${forged.alg} token signed by another key`);
  ok(`jose refuses a ${forged.alg} token signed by another key`);

  const config = await client.discovery(issuer, s.client_id, s.client_secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const ex = await client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: s.subject_token,
    subject_token_type: 'urn:phrase:params:oauth:token-type:api_token',
  });
  if (ex.issued_token_type !== 'urn:ietf:params:oauth:token-type:access_token') throw new Error(`exchange answer ${JSON.stringify(ex)}`);
  ok(`openid-client token exchange (${s.alg})`);
  await joseVerify(s.issuer, jwks, ex.access_token, s.alg, s.aud, 'exchanged through openid-client');
  await oauthVerify(as, ex.access_token, s.alg, s.aud, 'exchanged through openid-client');

  const cc = await client.clientCredentialsGrant(config, { scope: 'read' });
  ok(`openid-client client_credentials (${s.jwt_access_alg})`);
  await joseVerify(s.issuer, jwks, cc.access_token, s.jwt_access_alg, s.aud, 'RFC 9068 access token through openid-client');
  await oauthVerify(as, cc.access_token, s.jwt_access_alg, s.aud, 'RFC 9068 access token through openid-client');
}
console.log(`${checks} checks`);
