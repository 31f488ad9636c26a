import type { Category } from "@engram/contract";

/**
 * The categories of a project that has not set its own (docs/categories.md). Descriptions are
 * what local inference compares facts with (embedding similarity), so they name the typical
 * words and situations of each category rather than define it abstractly.
 */
export const DEFAULT_CATEGORIES: readonly Category[] = [
  {
    name: "personal_details",
    description:
      "Personal details about someone: their name, age, birthday, where they live or come from, nationality, languages they speak, appearance.",
  },
  {
    name: "preferences",
    description:
      "Likes, dislikes and preferences: favourite food, drinks, music, films, books, colours, brands, what someone enjoys, loves, hates or prefers.",
  },
  {
    name: "health",
    description:
      "Health and wellbeing: illnesses, allergies, medication, diet, injuries, doctor visits, symptoms, sleep, fitness, mental health.",
  },
  {
    name: "work",
    description:
      "Work and career: job, employer, company, role, title, colleagues, manager, projects at work, salary, office, promotion, job search.",
  },
  {
    name: "education",
    description:
      "Education and learning: school, university, degree, studies, courses, exams, teachers, classes, learning a skill or a language.",
  },
  {
    name: "relationships",
    description:
      "Family, friends and relationships: partner, spouse, children, parents, siblings, friends, dating, marriage, divorce, pets.",
  },
  {
    name: "plans",
    description:
      "Plans, goals and intentions: what someone will do, is planning, wants to do, upcoming events, appointments, deadlines, reminders.",
  },
  {
    name: "travel",
    description:
      "Travel and trips: holidays, vacations, flights, hotels, destinations, countries and cities visited, commuting, travel plans.",
  },
  {
    name: "hobbies",
    description:
      "Hobbies and free time: sports, games, music instruments, reading, cooking, gardening, crafts, clubs, weekend activities.",
  },
  {
    name: "finance",
    description:
      "Money and finances: income, budget, savings, debts, loans, rent, mortgage, bank, investments, purchases, bills, expenses.",
  },
  {
    name: "home",
    description:
      "Home and living situation: house, apartment, moving, neighbourhood, furniture, household chores, renovations, roommates.",
  },
  {
    name: "technology",
    description:
      "Technology and tools: devices, computers, phones, software, apps, programming languages, accounts, technical setup.",
  },
];
