import { startPrism } from '../helpers/prism.ts';
import { describeClientBehaviour } from './helpers/behaviour.ts';

// Prism accepts any credential value; it only checks that one of the spec's security schemes is present.
const ANY_KEY = 'mr_a1b2c3d4_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';

describeClientBehaviour({ name: 'Prism mock', stateless: true, canned: true }, async () => {
  const prism = await startPrism();
  return { url: prism.url, apiKey: ANY_KEY, close: prism.stop };
});
