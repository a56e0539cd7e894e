/** The learned IFPruning predictor (placeholder interface; the model and its training follow). */
export interface LearnedPredictor {
  /** Per-layer neuron scores from the prompt's token ids (BOS included). */
  predict(promptIds: number[]): Float32Array[];
}
