import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { useNavigationStore, useNoticesStore } from '@renderer/features/shell'
import { onRestart, type RestartOptions } from '@renderer/lib/restart'
import './ui/styles/main.css'

/** Mounts the app with a fresh Pinia; a restart (lib/restart.ts) unmounts it and mounts another. */
function start(o: RestartOptions = {}): void {
  const pinia = createPinia()
  const app = createApp(App).use(pinia)
  app.mount('#app')
  if (o.view) useNavigationStore(pinia).go(o.view)
  if (o.notice) useNoticesStore(pinia).notify(o.notice)
  onRestart((next) => {
    app.unmount()
    start(next)
  })
}

start()
