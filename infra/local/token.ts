import { parseArgs } from 'node:util';
import { dataDirFromEnv, loadDevSecrets } from './dev-secrets';
import { signDevToken } from './tokens';

/** npm run --silent token -- --tenant T --user U [--scope "..."]: prints a dev token and nothing else. */
const { values } = parseArgs({
  options: {
    tenant: { type: 'string', default: 'demo' },
    user: { type: 'string', default: 'dev' },
    scope: { type: 'string' },
    expires: { type: 'string', default: '12h' },
  },
});
const secrets = loadDevSecrets(dataDirFromEnv());
process.stdout.write(
  `${await signDevToken(secrets.jwtSecret, {
    tenant: values.tenant as string,
    user: values.user as string,
    scope: values.scope,
    expiresIn: values.expires,
  })}\n`,
);
