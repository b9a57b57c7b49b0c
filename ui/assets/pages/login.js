// The sign-in page, shown when Lookout runs with a tenants file and nobody is signed in: a
// token, or a user and password, exchanged for a session cookie.

import { useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { session } from '../lib/api.js';

export function LoginPage({ onSignedIn }) {
  const [mode, setMode] = useState('token');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const credentials = mode === 'token'
      ? { token: form.get('token') }
      : { username: form.get('username'), password: form.get('password') };
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await session.signIn(credentials));
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="login">
      <form class="card" onSubmit=${submit} aria-label="Sign in">
        <div class="brand"><img src="/ui/favicon.svg" width="24" height="24" alt="" />Lookout</div>
        <h1>Sign in</h1>
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected=${mode === 'token'} onClick=${() => setMode('token')}>Token</button>
          <button type="button" role="tab" aria-selected=${mode === 'user'} onClick=${() => setMode('user')}>User and password</button>
        </div>
        ${mode === 'token'
          ? html`<label>Token<input name="token" type="password" autocomplete="off" required autofocus /></label>`
          : html`
            <label>User<input name="username" autocomplete="username" required autofocus /></label>
            <label>Password<input name="password" type="password" autocomplete="current-password" required /></label>`}
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button type="submit" class="primary" disabled=${busy}>Sign in</button>
      </form>
    </main>`;
}
