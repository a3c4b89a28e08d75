// Must NOT type-check: the spec says `expirationDays` is a number of days, and this sends a string.
import { createMailroomClient } from '@mailroom/client';

const mailroom = createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'mr_a1b2c3d4_secret' });

export const wrong = mailroom.POST('/v1/api-keys', { body: { name: 'Wrong', expirationDays: '30' } });
