// A plain ES-module program using the installed @mailroom/client against a running sandbox
// (MAILROOM_URL, MAILROOM_API_KEY); prints what it saw as one JSON line.
import { createMailroomClient, MailroomError, unwrap, unwrapEnvelope } from '@mailroom/client';

const mailroom = createMailroomClient({ baseUrl: process.env.MAILROOM_URL, apiKey: process.env.MAILROOM_API_KEY });
const created = await unwrap(mailroom.POST('/v1/api-keys', { body: { name: 'Created from ESM', expirationDays: 30 } }));
const { data: keys, meta } = await unwrapEnvelope(mailroom.GET('/v1/api-keys'));
let missing;
try {
  await unwrap(mailroom.GET('/v1/api-keys/{keyId}', { params: { path: { keyId: 'key_0000000000000000' } } }));
} catch (error) {
  missing = error instanceof MailroomError ? { code: error.code, status: error.status } : String(error);
}
const result = { created: created.keyId, names: keys.map((key) => key.name), total: meta.total, missing };
process.stdout.write(`${JSON.stringify({ ...result, rateLimit: mailroom.rateLimit })}\n`);
