"""Pure helpers every layer may import (config, codecs, ...); they import nothing else from isthmus."""
