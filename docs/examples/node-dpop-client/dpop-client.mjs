// An independent DPoP client (RFC 9449) for tokenserver, written with
// panva/oauth4webapi: the password grant, a refresh and protected resource
// calls, each with a DPoP proof of one key pair. Server-provided nonces
// (use_dpop_nonce) are handled as oauth4webapi intends: the DPoP handle
// keeps the DPoP-Nonce a server sent, and the request is retried once.
//
// Environment: ISSUER, RESOURCE_URL, CLIENT_ID (a public client),
// USERNAME, PASSWORD, SCOPE. Prints one JSON line with what happened.
import * as oauth from 'oauth4webapi'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is required`)
  return v
}
const issuer = new URL(env('ISSUER'))
const resource = new URL(env('RESOURCE_URL'))
// The test servers listen on loopback over plain HTTP.
const insecure = { [oauth.allowInsecureRequests]: issuer.protocol === 'http:' }

const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
)
const client = { client_id: env('CLIENT_ID') }
const clientAuth = oauth.None()

// One key pair for the session; its proofs bind the tokens to it.
const keyPair = await oauth.generateKeyPair('ES256')
const DPoP = oauth.DPoP(client, keyPair)

const nonceRetries = { token: 0, resource: 0 }
// withNonce runs a request and, when the server asks for a DPoP nonce
// (which the DPoP handle has now cached), runs it once more.
async function withNonce(kind, request) {
  try {
    return await request()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    nonceRetries[kind]++
    return request()
  }
}

// oauth4webapi has no helper for the password grant (RFC 6749 §4.3): the
// generic token endpoint request sends it, with DPoP.
const login = await withNonce('token', async () =>
  oauth.processGenericTokenEndpointResponse(
    as,
    client,
    await oauth.genericTokenEndpointRequest(
      as,
      client,
      clientAuth,
      'password',
      { username: env('USERNAME'), password: env('PASSWORD'), scope: env('SCOPE') },
      { DPoP, ...insecure },
    ),
  ),
)

async function callResource(accessToken) {
  const response = await withNonce('resource', () =>
    oauth.protectedResourceRequest(accessToken, 'GET', resource, undefined, undefined, { DPoP, ...insecure }),
  )
  if (response.status !== 200) throw new Error(`resource answered ${response.status}`)
  return response.text()
}

const first = await callResource(login.access_token)

const refreshed = await withNonce('token', async () =>
  oauth.processRefreshTokenResponse(
    as,
    client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, login.refresh_token, { DPoP, ...insecure }),
  ),
)
const second = await callResource(refreshed.access_token)

console.log(JSON.stringify({
  jkt: await DPoP.calculateThumbprint(),
  login_token_type: login.token_type,
  refresh_token_type: refreshed.token_type,
  refresh_rotated: refreshed.refresh_token !== undefined && refreshed.refresh_token !== login.refresh_token,
  first,
  second,
  nonce_retries: nonceRetries,
  access_token: refreshed.access_token,
}))
