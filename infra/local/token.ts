import { parseArgs } from 'node:util';
import { dataDirFromEnv, loadDevSecrets } from './dev-secrets';
import { signDevToken } from './tokens';

/**
 * npm run --silent token -- [--tenant T] [--user U] [--scope "..."] [--operator]: prints a dev token
 * and nothing else. By default a tenant member's token (tenant demo: upload, download, delete);
 * --operator makes an operator's (quotas, recalculation, audit of any tenant), with no tenant
 * unless --tenant names one.
 */
const { values } = parseArgs({
  options: {
    tenant: { type: 'string' },
    user: { type: 'string' },
    scope: { type: 'string' },
    operator: { type: 'boolean', default: false },
    expires: { type: 'string', default: '12h' },
  },
});
const secrets = loadDevSecrets(dataDirFromEnv());
process.stdout.write(
  `${await signDevToken(secrets.jwtSecret, {
    tenant: values.tenant ?? (values.operator ? undefined : 'demo'),
    user: values.user ?? (values.operator ? 'operator' : 'dev'),
    scope: values.scope,
    operator: values.operator,
    expiresIn: values.expires,
  })}\n`,
);
