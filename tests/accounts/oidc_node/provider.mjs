// node-oidc-provider (an OpenID Certified provider) on loopback, for trim's single sign-on tests.
//
//   node provider.mjs <setup.json>
//
// setup.json: {"port": n, "trailing_slash": bool, "id_token_claims": bool, "control": "<path>", "clients": [...]}
// The provider listens on that loopback port (0 or none: a free one) and prints one line of JSON,
// {"issuer": ...}, once it answers. The control file is read again on every request, so a test can change the people
// the provider knows (and what it says about them) without restarting it:
//   {"accounts": {"<login = sub>": {"claims": {...}, "userinfo": {...}}},
//    "rewrite_client": {"from": "<client id>", "to": "<client id>", "secret": "..."} | null,
//    "userinfo_down": bool}
// "userinfo" overrides what the userinfo endpoint says (the ID token keeps "claims").
// "rewrite_client" makes the provider treat trim's requests as another client's, so it issues
// a genuine ID token whose audience is not trim (the "wrong aud" case). "userinfo_down" makes
// the userinfo endpoint answer 503.
//
// The sign-in page here is the test's own: a login form (any known login, no password) with a
// Cancel button, and consent granted at once (trim is a first-party client).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const setup = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function control() {
  return JSON.parse(readFileSync(setup.control, 'utf8'));
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function findAccount(ctx, id) {
  const account = control().accounts[id];
  if (!account) return undefined;
  return {
    accountId: id,
    async claims(use) {
      return { ...account.claims, ...(use === 'userinfo' ? account.userinfo || {} : {}), sub: id };
    },
  };
}

const server = createServer();
server.listen(setup.port || 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}${setup.trailing_slash ? '/' : ''}`;

  const provider = new Provider(issuer, {
    clients: setup.clients,
    findAccount,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // true (the default): scope-requested claims go to userinfo only, not into the ID token.
    conformIdTokenClaims: !setup.id_token_claims,
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource(ctx, form) {
          ctx.body = page('Sign out?', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">`
            + 'Yes, sign me out</button><button type="submit" form="op.logoutForm">No, stay signed in</button>');
        },
        postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<p id="error">${escape(out.error)}</p>`);
    },
  });

  // The "wrong aud" case: trim's requests handled as another client's; a userinfo outage.
  provider.use(async (ctx, next) => {
    const { rewrite_client: rewrite, userinfo_down: userinfoDown } = control();
    if (userinfoDown && ctx.path === '/me') {
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable' };
      return;
    }
    if (rewrite && ctx.path === '/auth' && ctx.query.client_id === rewrite.from) {
      ctx.querystring = new URLSearchParams({ ...ctx.query, client_id: rewrite.to }).toString();
    }
    if (rewrite && ctx.path === '/token' && ctx.method === 'POST') {
      ctx.req.headers.authorization = `Basic ${Buffer.from(`${rewrite.to}:${rewrite.secret}`).toString('base64')}`;
    }
    await next();
  });

  // The sign-in interaction: who are you (login form, or Cancel), then consent granted at once.
  provider.use(async (ctx, next) => {
    const match = ctx.path.match(/^\/interaction\/([\w-]+)(?:\/(login|cancel))?$/);
    if (!match) {
      await next();
      return;
    }
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const action = match[2];
    let result;
    if (action === 'cancel' && ctx.method === 'POST') {
      result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
    } else if (action === 'login' && ctx.method === 'POST') {
      const login = (await formBody(ctx.req)).get('login') || '';
      if (!control().accounts[login]) {
        ctx.status = 400;
        ctx.body = page('Sign in', `<p id="error">Unknown login</p>`);
        return;
      }
      result = { login: { accountId: login } };
    } else if (details.prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = page('Sign in', `<form method="post" action="/interaction/${details.uid}/login">`
        + '<label>Login <input name="login" autofocus></label><button type="submit">Sign in</button></form>'
        + `<form method="post" action="/interaction/${details.uid}/cancel"><button type="submit">Cancel</button></form>`);
      return;
    } else {
      const { prompt: { details: missing }, params, session } = details;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      result = { consent: { grantId: await grant.save() } };
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
