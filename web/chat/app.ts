document.getElementById('app')!.textContent = 'ai-runtime';
