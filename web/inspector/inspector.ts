document.getElementById('inspector')!.textContent = 'inspector';
