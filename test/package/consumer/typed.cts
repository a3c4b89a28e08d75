// CommonJS TypeScript: `import … = require()` of the ES-module package type-checks too (TypeScript's require(esm)).
import mailroomClient = require('@mailroom/client');

const mailroom = mailroomClient.createMailroomClient({
  baseUrl: 'http://127.0.0.1:3000',
  apiKey: 'mr_a1b2c3d4_secret',
});

export async function keyNames(): Promise<string[]> {
  const keys = await mailroomClient.unwrap(mailroom.GET('/v1/api-keys'));
  return keys.map((key) => key.name);
}
