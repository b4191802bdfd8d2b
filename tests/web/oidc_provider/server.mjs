// A real OpenID Connect provider (the npm package oidc-provider) for tests/web/test_sso.py.
//
//   node server.mjs '<settings as JSON>'
//
// Settings: {"clients": [...oidc-provider client metadata...],
//            "accounts": {"<login name>": {<the claims that account's tokens carry>}},
//            "claimsInIdToken": true}
// It listens on a free port of 127.0.0.1, prints one line {"issuer": "http://127.0.0.1:<port>"}
// once it is ready, and exits when its standard input closes, so it never outlives the test.
// The login and consent pages are oidc-provider's own "devInteractions": any password signs in
// as the login name typed.
//
// oidc-provider is pinned at 8.8.1, the last major that runs on Debian 12's Node.js 18: 9.x wants
// Node.js 22 and fails on 18 (it calls URL.parse, which 18 lacks).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
  format: 'jwk',
});

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: settings.clients,
    jwks: { keys: [{ ...signingKey, kid: 'test-signing-key', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    async findAccount(ctx, accountId) {
      const claims = settings.accounts[accountId];
      if (claims === undefined) {
        return undefined;
      }
      return { accountId, claims: async () => ({ ...claims, sub: accountId }) };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified', 'xms_edov'],
      profile: ['name'],
    },
    // As Google and Entra ID do, put the claims asked for in the ID token itself; false keeps
    // them to the userinfo endpoint, as the standard has it for the code flow.
    conformIdTokenClaims: !settings.claimsInIdToken,
    // Refuse any client that does not use PKCE, so a passing sign-in proves SafeClass sends it.
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
  });
  provider.on('server_error', (ctx, error) => console.error('server_error', error));
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
