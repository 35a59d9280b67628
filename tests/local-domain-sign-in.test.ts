import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createAuthenticator } from '../src/server/auth.js';
import { TEST_JWT_SECRET, hsToken } from './support/jwt.js';

/** `localhost` is a default local domain: its users must be able to sign in to read the mail it stores. */
describe('sign-in for an address of a single-label local domain', () => {
  it('dev mode signs alice@localhost in (z.email() alone would refuse it for lack of a TLD)', async () => {
    const authenticate = createAuthenticator(parseConfig({ auth: { dev_mode: true } }).auth);
    await expect(authenticate({ email: 'Alice@Localhost' })).resolves.toMatchObject({ email: 'alice@localhost' });
  });

  it('a token whose email claim is alice@localhost is accepted', async () => {
    const authenticate = createAuthenticator(parseConfig({ auth: { dev_mode: false, jwt_secret: TEST_JWT_SECRET } }).auth);
    await expect(authenticate({ token: await hsToken({ email: 'alice@localhost' }) })).resolves.toMatchObject({ email: 'alice@localhost' });
  });

  it('what is not a mailbox address is still refused', async () => {
    const authenticate = createAuthenticator(parseConfig({ auth: { dev_mode: true } }).auth);
    for (const email of ['alice', 'alice@', '@localhost', 'a b@localhost', 'alice@-bad-.example', `${'a'.repeat(250)}@localhost`]) {
      await expect(authenticate({ email }), email).rejects.toThrow(/Invalid email/);
    }
  });
});
