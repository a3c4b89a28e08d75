import { useMemo, useState } from 'preact/hooks';
import { createConsoleClient, unwrap } from '../api.ts';
import { useAction } from '../context.ts';
import { hrefOf } from '../router.ts';
import type { StoredSession } from '../session.ts';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { TextField } from '../ui/field.tsx';

interface SignInProps {
  onSignedIn: (session: StoredSession) => void;
}

/** `POST /auth/login`: email and password; says why the last session ended, when it did. */
export function LogInPage({ onSignedIn, reason }: SignInProps & { reason?: string | undefined }) {
  const client = useMemo(() => createConsoleClient(), []);
  const { run, pending, failure } = useAction();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  async function submit(event: Event) {
    event.preventDefault();
    const result = await run(() => unwrap(client.POST('/auth/login', { body: { email, password } })));
    if (result.ok) {
      onSignedIn({ token: result.value.token, expiresAt: result.value.expiresAt });
    }
  }
  return (
    <AuthLayout title="Log in">
      {reason && (
        <div class="notice" role="status">
          <p>{reason}</p>
        </div>
      )}
      <form class="form" noValidate onSubmit={submit}>
        <ErrorNotice failure={failure} fields={['email', 'password']} />
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onValue={setEmail}
          failure={failure}
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onValue={setPassword}
          failure={failure}
        />
        <button type="submit" class="primary" disabled={pending}>
          Log in
        </button>
      </form>
      <p>
        No account yet? <a href={hrefOf({ name: 'signup' })}>Sign up</a>
      </p>
    </AuthLayout>
  );
}

/** `POST /auth/signup`: an account, its first organization and a session at once. */
export function SignUpPage({ onSignedIn }: SignInProps) {
  const client = useMemo(() => createConsoleClient(), []);
  const { run, pending, failure } = useAction();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  async function submit(event: Event) {
    event.preventDefault();
    const body = { email, password, ...(name.trim() === '' ? {} : { name: name.trim() }) };
    const result = await run(() => unwrap(client.POST('/auth/signup', { body })));
    if (result.ok) {
      onSignedIn({ token: result.value.token, expiresAt: result.value.expiresAt });
    }
  }
  return (
    <AuthLayout title="Sign up">
      <form class="form" noValidate onSubmit={submit}>
        <ErrorNotice failure={failure} fields={['name', 'email', 'password']} />
        <TextField
          label="Name (optional)"
          name="name"
          autoComplete="name"
          value={name}
          onValue={setName}
          failure={failure}
          hint="It also names your first organization."
        />
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onValue={setEmail}
          failure={failure}
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onValue={setPassword}
          failure={failure}
          hint="10 to 256 characters. A few unrelated words make a good one."
        />
        <button type="submit" class="primary" disabled={pending}>
          Sign up
        </button>
      </form>
      <p>
        Have an account? <a href={hrefOf({ name: 'login' })}>Log in</a>
      </p>
    </AuthLayout>
  );
}

function AuthLayout({ title, children }: { title: string; children: preact.ComponentChildren }) {
  return (
    <main id="main" class="auth">
      <p class="brand auth-brand">Mailroom console</p>
      <div class="card auth-card">
        <h1>{title}</h1>
        {children}
      </div>
      <p class="muted auth-footer">
        The API reference is at <a href="/docs">/docs</a>.
      </p>
    </main>
  );
}
