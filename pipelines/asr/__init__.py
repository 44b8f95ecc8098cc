"""Voice input: audio files or a microphone -> VAD utterances -> speech recognition -> a user turn.

Qt-free.  ``vad`` cuts utterances with Silero VAD (ONNX model shipped by the
``silero-vad`` package), ``recognizers`` builds one of the ASR backends
(``pocketsphinx`` default, ``whisper``, ``sherpa-onnx``) behind one small
contract, ``audio_input`` reads and checks WAV files, ``mic`` opens the input
device, ``barge_in`` decides when the user's speech interrupts the avatar.
"""
