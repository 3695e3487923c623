// Sequence-level distillation data: unlabeled prompts, the teacher's answers to them, and the pairs
// saved as chat JSONL (one {"messages": [..., {"role": "assistant", "content": answer}]} a line,
// the format LoadChatData reads). Asking the teacher is the caller's (src/cli talks HTTP); this layer
// knows nothing of the network.
//
// The pairs file is resumable: answers are appended in prompt order, one whole line per write(2)
// followed by fsync, so after a kill the file holds the answers already given and they are not
// asked for again. A torn last line (power loss) is dropped when the file is read back.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flotilla/status.h"
#include "tokenizer/chat_template.h"

namespace flotilla::train {

// A conversation to be answered: ends with a non-assistant message.
using Prompt = std::vector<ChatMessage>;

// Prompts from `path`: JSONL (a .jsonl/.json name) with one {"prompt"|"instruction"|"question"|"input":
// text, optional "system": text} or {"messages": [...]} object a line; otherwise plain text, one prompt
// a non-empty line. INVALID_ARGUMENT naming the line for malformed JSON, a missing field or an empty
// prompt, and for a file without prompts; NOT_FOUND when it cannot be read.
StatusOr<std::vector<Prompt>> LoadPrompts(const std::string& path);

// The JSONL line (without newline) for a prompt and its answer.
std::string PairLine(const Prompt& prompt, const std::string& answer);

// The answers already saved in `pairs_path` for the first prompts (empty when the file does not
// exist). FAILED_PRECONDITION when a saved line is for another prompt than prompts[i] (a pairs file
// from a different prompt list) or the file has more lines than there are prompts; INVALID_ARGUMENT
// for a malformed line before the last. A torn last line is dropped (and cut from the file).
StatusOr<std::vector<std::string>> LoadSavedAnswers(const std::string& pairs_path, const std::vector<Prompt>& prompts);

// Asks the teacher for one prompt's answer.
using AskFn = std::function<StatusOr<std::string>(const Prompt& prompt)>;
// Called after each answer: (prompts answered so far, total).
using AnsweredFn = std::function<void(int64_t done, int64_t total)>;

struct CollectResult {
  int64_t reused = 0;  // answers found in the pairs file
  int64_t asked = 0;   // answers asked for in this run
};

// Makes `pairs_path` hold an answer for every prompt: keeps the saved ones and asks `ask` for the
// rest in order, appending each as it arrives. The first error of `ask` is returned with the
// prompt's number; the answers before it stay saved.
StatusOr<CollectResult> CollectAnswers(const std::vector<Prompt>& prompts, const std::string& pairs_path,
                                       const AskFn& ask, const AnsweredFn& answered = nullptr);

}  // namespace flotilla::train
