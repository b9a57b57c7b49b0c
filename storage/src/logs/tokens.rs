//! The tokenizer of the `line` field: runs of alphanumeric characters, case kept, leaving out
//! every run that has a digit in it. Numbers, hex ids and timestamps are most of a log's
//! distinct tokens; indexing them would make the term dictionary as large as the data and
//! cost a third of the indexing time, while a filter on them is answered by reading lines.

use tantivy::tokenizer::{SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer};

/// The analyzer registered as [`super::partition::LINE_TOKENIZER`].
pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default()).filter(WordsOnly).build()
}

/// Whether a run of `s` (alphanumeric characters) is indexed.
pub(crate) fn indexed(run: &str) -> bool {
    !run.chars().any(|c| c.is_numeric())
}

/// Drops tokens that contain a digit.
#[derive(Clone)]
struct WordsOnly;

impl TokenFilter for WordsOnly {
    type Tokenizer<T: Tokenizer> = WordsOnlyTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordsOnlyTokenizer<T> {
        WordsOnlyTokenizer(tokenizer)
    }
}

#[derive(Clone)]
struct WordsOnlyTokenizer<T>(T);

impl<T: Tokenizer> Tokenizer for WordsOnlyTokenizer<T> {
    type TokenStream<'a> = WordsOnlyStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordsOnlyStream(self.0.token_stream(text))
    }
}

struct WordsOnlyStream<T>(T);

impl<T: TokenStream> TokenStream for WordsOnlyStream<T> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            if indexed(&self.0.token().text) {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}
