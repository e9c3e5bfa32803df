"""The base model's own "training examples" for the router: what a request looks like that no expert is for.

An expert's routing/ member says what its requests look like; nothing says what the *other*
requests look like, so a prompt that merely shares a word or a topic with an expert ("is X hard
to learn?") used to score as a weak match. These prompts are the missing class: chat, facts,
advice, creative writing, and questions *about* technologies (explain, compare, teach, install),
the things a general assistant answers. The router embeds them once (at construction) and keeps
an expert only when the request is nearer to that expert's examples than to these.

Written for this purpose, apart from every evaluation set: bench/data/route/prompts.jsonl is
never copied here, and on purpose none of these names SQL, JSON or databases, so the bench's
near-miss prompts measure how the rule generalises rather than recall it.
"""

from __future__ import annotations

BASE_PROMPTS: tuple[str, ...] = (
    # facts and explanations
    "What is the tallest mountain in Africa?",
    "How does a refrigerator keep food cold?",
    "When did the first person walk on the moon?",
    "Why do cats purr?",
    "How far away is the sun from the earth?",
    "What language is spoken in Brazil?",
    "How do bees make honey?",
    "What is the speed of light?",
    "Why do leaves change colour in the fall?",
    "Who was Cleopatra?",
    "How does a rainbow form?",
    "What is inflation and why does it happen?",
    "How do airplanes stay in the air?",
    "What is the largest ocean on the planet?",
    "Explain how the immune system fights a cold.",
    "What is the population of Canada?",
    # advice and how-to
    "How can I stop procrastinating?",
    "What is a good way to save money each month?",
    "How do I get rid of hiccups?",
    "Give me some tips for a job interview.",
    "How often should I water a cactus?",
    "How do I change a flat tyre on a bicycle?",
    "What should I do if I can't fall asleep?",
    "How can I make my apartment feel bigger?",
    "What is the best way to memorise vocabulary?",
    "How do I clean a cast iron pan?",
    "Should I stretch before or after running?",
    "How do I ask my manager for a raise?",
    # creative writing and chat
    "Write a short story about a robot who learns to paint.",
    "Compose a sonnet about the city at night.",
    "Tell me a riddle.",
    "Write a thank-you note for a wedding gift.",
    "Give me a pun about bread.",
    "Invent a name for a fantasy kingdom.",
    "Write a toast for my best friend's birthday.",
    "Describe a sunset over the desert in three sentences.",
    "Hello! How are you today?",
    "Can you recommend a podcast about history?",
    "What movie should I watch tonight?",
    "Let's play twenty questions.",
    # food, travel, health, home
    "What can I cook with rice, eggs and spinach?",
    "Give me a recipe for banana bread.",
    "What are the must-see sights in Rome?",
    "Is it safe to drink tap water in Mexico?",
    "How many calories does a brisk walk burn?",
    "What are the benefits of drinking green tea?",
    "How do I care for a new puppy?",
    "What is a good beginner houseplant?",
    "Plan a weekend trip to the mountains.",
    "What should I bring to a picnic?",
    # school, maths, language
    "What is the square root of 144?",
    "Explain the Pythagorean theorem.",
    "What is the past tense of 'swim'?",
    "Translate 'thank you very much' into French.",
    "What is the difference between affect and effect?",
    "Summarise the causes of the First World War.",
    "How do I write a good essay introduction?",
    "What is a prime number?",
    "Convert 30 degrees Celsius to Fahrenheit.",
    # questions about technology: explain, compare, learn, install, opinions
    "What is Python used for?",
    "Explain what an API is in simple terms.",
    "What is the difference between RAM and storage?",
    "How does the internet work?",
    "What is machine learning?",
    "How do I install Docker on Windows?",
    "What is a CSV file?",
    "What are the advantages of cloud computing?",
    "Why is Linux popular on servers?",
    "What is a spreadsheet pivot table used for?",
    "How does encryption keep messages private?",
    "What is the difference between a compiler and an interpreter?",
    "Explain what version control is and why teams use git.",
    "What does a data analyst do?",
    "Explain object-oriented programming to a beginner.",
    "What is a REST API and how is it designed?",
    "How do I become a software engineer?",
    "What is the cloud, in plain words?",
)
